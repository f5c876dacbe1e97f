"""Training of NightLab's default colorization model (needs the ``train`` extra: torch).

See ``training/README.md``. Only ``training.data``, ``training.degrade`` and
``training.evaluate`` work without torch.
"""
