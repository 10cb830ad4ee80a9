"""Evaluation: held-out scores during training and the refocus benchmark, on whole frames.

``metrics`` (PSNR, SSIM, Laplacian variance, LVCorr, depth bands), ``heldout`` (the trainer's
periodic evaluation on held-out crops), and the benchmark against path-traced truth: ``scenes``
(the held-out renders at the models' working size), ``methods`` (a trained run, the classical
reference renderer), ``sections`` (deblur, bokeh, refocus, controllability), ``shapes`` with
``shape_fidelity`` (aperture-shape fidelity of isolated highlights), ``targets`` (the model
targets and the Markdown table) and ``benchmark`` (one run of every section, its files). The
conditions the networks see are ``train.conditions``', sampling is ``train.objectives.generate``.
"""
