"""gandash dashboard: ``streamlit run app.py``.

Launch, watch, explore and compare GAN runs. Trainers run as their own processes
(see gandash/backends/launcher.py); the pages only read their run directories. Runs live in
``$GANDASH_RUNS_DIR`` (default ``checkpoints/``).
"""
from gandash.ui.nav import main

main()
