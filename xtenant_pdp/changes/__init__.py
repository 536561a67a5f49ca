"""The admin's "before you change" tools: diff, sign-in import, activity, impact and plan.

Nothing on the serving path imports this package, except the audit diff (:mod:`.diff`,
used when a snapshot is activated).
"""
