"""The storage layer: the cache store interface, Redis and in-process stores, the stored entry format,
the near cache, encryption, Redis topologies and the store lock. Imports neither Flask nor the layers above.
"""
