"""Who may change the settings (D13): Entra role actions, wildcards, protected actions.

``actions`` knows the resource action names and wildcard forms, ``index`` holds the per-principal
action tables built once per snapshot, ``evaluate`` answers the adminAction question and ``plan``
checks the actions a change of settings needs.
"""
