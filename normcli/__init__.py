"""normcli: fit scaling parameters on numeric columns, apply them, and reverse them.

    import normcli
    sidecar = normcli.fit(df, method="zscore")
    scaled = normcli.apply(df, sidecar)
    back = normcli.invert(scaled, sidecar)
    sidecar.save("params.normcli.json")

Heavy libraries load only when these are first used, so ``normcli --help`` stays fast.
"""

__version__ = "1.0.0"

__all__ = ["fit", "apply", "invert", "Sidecar", "CsvOptions", "NormcliError", "__version__"]

_LAZY = {
    "fit": "core",
    "apply": "core",
    "invert": "core",
    "Sidecar": "sidecar",
    "ColumnParams": "sidecar",
    "CsvOptions": "io",
    "NormcliError": "errors",
    "DataError": "errors",
    "SidecarError": "errors",
    "FileError": "errors",
    "UsageError": "errors",
}


def __getattr__(name):
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'normcli' has no attribute {name!r}")
