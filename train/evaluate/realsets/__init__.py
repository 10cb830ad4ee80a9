"""The real datasets the field reports on, read from a local root the user gives (nothing is
downloaded): DPDD and RealDOF for deblurring (``pairs``), RealBokeh's real aperture sweeps
(``realbokeh``, scored for controllability against the real sweep by ``sweeps``) and
Learn2Refocus' focal stacks for refocusing (``focalstack``). Each adapter lists its dataset's
items in its published layout; ``files`` reads them (links never followed out of the root, 8- and
16-bit PNG and JPEG at their own precision, one-line :class:`RealSetError` for anything else),
``scoring`` and ``perceptual`` (LPIPS, DISTS from local weight files) score rows, ``sections``
runs each dataset's rows, ``report`` and ``run`` write ``real_benchmark.json`` and ``.md``, and
``command`` is ``python -m train benchmark-real`` (light to import; nothing heavy is imported
here either). The layouts, their sources and what each number is:
docs/real-datasets.md.
"""
