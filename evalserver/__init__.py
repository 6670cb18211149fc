import os

# numpy's OpenBLAS starts a thread per core at import, and after each matrix product those
# threads spin, waiting for more. Every process here scores or serves one thing at a time
# per thread (a Celery pool process per core, gunicorn's request threads), so the spinning
# threads only took CPU from the others: one scoring task cost 66 ms of CPU with them and
# 31 ms without (the bootstrap's products). Set before numpy is imported anywhere; an
# operator's own setting wins.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
