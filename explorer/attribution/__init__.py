"""Attributions: captum's methods behind one call, the guided rule for any activation, and sanity checks."""
