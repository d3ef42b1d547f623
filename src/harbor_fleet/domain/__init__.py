"""The domain core: pure rules about fixes, vehicles and fleets. No I/O, no frameworks."""
