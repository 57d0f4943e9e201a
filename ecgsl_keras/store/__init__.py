"""Where trained models live: run folders (``runs``) and the shipped pretrained presets (``presets``)."""
