"""Publication figures and colour maps (matplotlib with the Agg backend only)."""
