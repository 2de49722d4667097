"""The built-in methods as :class:`benchmark.api.Method` adapters: classic baselines, the shipped
trained networks (on :class:`~benchmark.methods.adapters.trainable.TrainableMethod`), published
models from their weights files, and temporal smoothing."""
