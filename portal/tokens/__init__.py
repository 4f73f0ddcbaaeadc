"""API tokens: the rows (`models`), what a token reaches (`reach`: stages and name patterns, no
database), how a presented token is made and checked (`credentials`), and the console's pages
(`admin`). Creating and revoking one is the service layer's (`portal.services.tokens`)."""
