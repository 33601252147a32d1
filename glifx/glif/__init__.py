"""GLIF1-5 models: parameters, Allen neuron_config I/O and the compiled simulator."""
