"""Launchers for the one worker loop: in-process, ``torchrun`` (one process per rank) and Ray
Train's ``TorchTrainer`` (workers on a cluster, checkpoints reported to a storage path)."""
