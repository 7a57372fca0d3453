"""The models: the NTM, its addressing equations and its controllers."""
