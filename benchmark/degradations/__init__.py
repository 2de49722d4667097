"""Built-in degradations: JPEG, the ``gray`` protocol, H.264/HEVC, bicubic downscale."""
