"""Reference agent types of the support-desk mesh, and the supervisor."""
