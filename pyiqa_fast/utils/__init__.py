"""Small utilities: environment report."""
