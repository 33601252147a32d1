"""Readers (NWB2, Allen NWB1, ABF) that build a Cell, the NWB2 writer and the stimulus ontology."""
