"""``aiar ui``: a local web app over the same compiler, apply and storage functions as the CLI."""
