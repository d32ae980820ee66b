"""One module per `premium-hotline` subcommand (see premium_hotline.cli)."""
