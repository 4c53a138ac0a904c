"""Community (social needs) referrals: a directory of community services and referrals tracked to an outcome."""
