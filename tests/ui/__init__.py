"""Dashboard page tests, driven by Streamlit's AppTest."""
