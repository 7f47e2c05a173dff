"""fitmint's ACA-Py plugin (`--plugin fitmint_acapy`, with agent/acapy_plugin on the agent's PYTHONPATH): one
admin route ACA-Py 1.7 lacks, `routes.py`. Nothing else of ACA-Py's behaviour changes."""
