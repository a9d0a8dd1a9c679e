"""The Streamlit pages of the dashboard. Nothing outside this package imports Streamlit."""
