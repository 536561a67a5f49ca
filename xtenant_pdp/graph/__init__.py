"""SOURCE side: Microsoft Graph cross-tenant access bodies as exported, parsed but unresolved."""
