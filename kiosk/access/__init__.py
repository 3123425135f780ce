"""Who may do what: staff accounts and sign-in, tablet pairing, the pages' access
rules and security headers, rate limits."""
