"""Closing the loop on specialist referrals: the provider directory and referrals tracked until closed."""
