"""mri-recon: accelerated MRI reconstruction on fastMRI data. The package map:

- ``cli``: the ``mri-recon`` command; ``fit``/``validate``/``test`` go to ``training.cli``
  (LightningCLI), every other command to its module in ``commands`` (reconstruct, evaluate,
  import_weights, check_data, demo, study, benchmark).
- ``commands``: one module per command, its options and logic; commands never import each other,
  and only ``demo`` imports ``data_prep`` (to build its data).
- ``inference``: what the commands share: run preparation (checkpoint + folder + options), the
  volume loop (batches filled across volumes, compiled where it pays), submission files, the
  comparison of networks and baselines. It imports nothing from ``training``.
- ``options``: command-line options generated from dataclasses; ``recipes``: the bundled configs
  (and what a recipe says about the data, for fastMRI's published weights); ``precision``: the
  one place that decides bf16 or float32 and compiled or eager, from the hardware
  (``MRI_RECON_FAST_BF16`` overrides it).
- ``report``: the one report system (text tables, atomic JSON / CSV / text writers);
  ``evaluation``: fastMRI's folder evaluation; ``metrics``: NMSE / PSNR / SSIM; ``figures``
  (one windowing rule for every picture), ``nifti``, ``dicom``: pictures, NIfTI and DICOM
  output (``dicom_fields``: the scan's header and geometry as DICOM attributes).
- ``training``: the LightningModule, CLI, per-volume metrics, loss means, callbacks
  (checkpointing, the non-finite guard, thread tuning: ``tune_threads`` for a loop of one's own).
- ``models``: fastMRI's U-Net and End-to-end VarNet on this project's layers, the network
  registry (``registry``: which transform and loss a network takes), self-describing
  checkpoints, fastMRI's weights (key mapping, architecture read from the tensors), and
  ``compiled`` (``torch.compile`` with an eager fallback).
- ``data``: datasets, file and value checks (``file_check``: one set for check-data and the
  loaders), masks, transforms (``unet_transform``, ``varnet_transform``,
  ``unet_device_transform``), loaders, samplers, atomic I/O and writer marks (``io``,
  ``marks``), what clinical formats need of a scan (``scan_info``), and ISMRMRD raw scans in
  fastMRI's layout (``data.ismrmrd``: to a file or in memory).
- ``benchmark``: the product's paths timed against fastMRI's (``timing``: the one timing loop);
  ``studies``: the course's four studies on one harness.
- ``nn``, ``optim``: the from-scratch layers and optimizers (they depend on torch alone).
"""
