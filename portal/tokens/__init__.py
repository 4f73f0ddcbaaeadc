"""API tokens: the rows (`models`), what a token reaches (`reach`: stages and name patterns, no
database), how a presented token is made and checked (`credentials`). Creating and revoking one is
the service layer's (`portal.services.tokens`); the pages are the console's
(`portal.console.tokens`). A Django app of its own (label `tokens`), on the tables the portal app
made."""
