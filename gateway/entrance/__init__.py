"""The entrance to the queue: the pipeline of stages, then the one function
that checks a message's headers and commits it (``intake``), which every
producer of mail passes, as Postfix's cleanup is for every way in.

May import: content, settings, the store and the foundations; never the ways
in, the queue, billing or the faces.
"""
