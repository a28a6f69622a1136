"""rootstrap: build a Linux distribution's root filesystem without root."""
