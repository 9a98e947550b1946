"""The studies behind ``mri-recon study``: how step size, optimizer, normalization and convolution
shape training, on the reconstruction task, with the project's own optimizers and layers.

Modules, one job each:
    quadratic            a quadratic with a known Hessian; SGD runs on it, alone or in grids; rates
    quadratic_theory     optimal settings and rates, step-size regimes, the momentum rules' gap
    step_size            the quadratic part of the step-size study and its theory checks
    landscape            the loss along the gradient through trained weights; Hessian estimates
    network_line         trained weights (a checkpoint, or brief training) and their loss line
    step_size_report     the step-size study end to end: figures, JSON, CSV, summary
    data                 fixed training slices and validation volumes in memory
    loop                 a plain training loop on an exact budget of gradient evaluations; scores
    optimizers           the optimizer study's runs and the check against torch.optim
    optimizers_report    the optimizer study end to end
    normalization        the normalization study's variants and runs
    normalization_report the normalization study end to end
    training_plots       the two training studies' figures
    convolution          worked examples: a convolution as a matrix, widths, gradients
    convolution_report   the convolution study end to end
    presets              the default and --quick sizes of each study
    output               output-folder checks, atomic JSON/CSV/PNG/text writing, text tables

See docs/studies.md for what each study shows.
"""
