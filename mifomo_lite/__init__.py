"""mifomo_lite — a teaching kit for cross-domain few-shot hyperspectral classification.

Re-implements MIFOMO (arXiv 2601.22581): a frozen HyperSIGMA foundation model adapted by a
coalescent projection, trained episodically as a prototypical network, bridged from source to
target domain by mixup through an intermediate domain, with pseudo-labels refined by label
propagation.
"""

__version__ = "0.1.0"


def __getattr__(name: str):
    """Lazy top-level shortcuts (importing torch-heavy modules only when used)."""
    if name == "load_foundation_model":
        from .models.foundation import load_foundation_model

        return load_foundation_model
    if name == "run":
        from .api import run

        return run
    raise AttributeError(f"module 'mifomo_lite' has no attribute {name!r}")
