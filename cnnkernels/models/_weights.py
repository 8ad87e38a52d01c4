"""Weights come from the user, never from the network: a path to a saved state_dict, or the dict."""
import os

import torch


def load_weights(model, weights):
    """Loads `weights` (None, a path, or a state_dict) into `model` with strict=True; returns model."""
    if weights is None:
        return model
    if isinstance(weights, (str, os.PathLike)):
        if not os.path.isfile(weights):
            raise FileNotFoundError(f"cnnkernels.models: no weights file at {os.fspath(weights)!r}")
        weights = torch.load(weights, map_location="cpu", weights_only=True)
    if not isinstance(weights, dict):
        raise TypeError(f"cnnkernels.models: weights must be a path or a state_dict, got {type(weights).__name__}")
    model.load_state_dict(weights, strict=True)
    return model
