"""dvcp batch: colour an archive of shots listed in a jobs file, on Ray."""
