"""Figure, table and layout builders. They take analysis results (never raw data) and return Dash/plotly objects."""
