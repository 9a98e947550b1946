"""mri-recon: accelerated MRI reconstruction on fastMRI data. The package map:

- ``cli``: the ``mri-recon`` command; ``fit``/``validate``/``test`` go to ``training.cli``
  (LightningCLI), every other command to its module in ``commands`` (reconstruct, evaluate,
  import_weights, check_data, demo, study, benchmark).
- ``commands``: one module per command, its options and logic; commands never import each other.
- ``inference``: what commands share: run preparation (checkpoint + folder + options), the volume
  loop, submission files, the model-vs-zero-filled comparison.
- ``options``: command-line options generated from dataclasses; ``recipes``: the bundled configs
  (and what a recipe says about the data, for fastMRI's published weights).
- ``report``: the one report system; ``evaluation``: fastMRI's folder evaluation; ``metrics``:
  NMSE / PSNR / SSIM; ``figures``, ``nifti``, ``dicom``: pictures, NIfTI and DICOM output
  (``dicom_fields``: the scan's header and geometry as DICOM attributes).
- ``training``: the LightningModule (either network: ``training.networks``), CLI,
  self-describing checkpoints, per-volume metrics, callbacks (checkpointing, the non-finite guard).
- ``models``: fastMRI's U-Net and End-to-end VarNet on this project's layers, self-describing
  checkpoints, fastMRI's weights (key mapping, architecture read from the tensors); ``data``:
  datasets, file and value checks, masks, transforms (image and k-space), loaders, samplers,
  atomic I/O and writer marks, what clinical formats need of a scan (``scan_info``), and ISMRMRD
  raw scans converted to fastMRI's layout (``data.ismrmrd``: to a file or in memory).
- ``nn``, ``optim``: the from-scratch layers and optimizers (they depend on torch alone).
"""
