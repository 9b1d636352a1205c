"""TFX's Tuner with ctpipe's search (models/tuning.py): the local executor and the files it reads."""
