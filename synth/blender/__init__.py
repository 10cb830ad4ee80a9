"""The only place that imports ``bpy``: builds a Blender scene from a ``SceneSpec`` and renders
its passes with Cycles. Everything above this folder works on plain data and numpy arrays."""
