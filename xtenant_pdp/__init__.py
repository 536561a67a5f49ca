"""xtenant-pdp: a policy decision point for Microsoft Entra cross-tenant access settings."""

from xtenant_pdp._version import __version__

__all__ = ["__version__"]
