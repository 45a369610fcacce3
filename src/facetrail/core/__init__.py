"""What every use case needs: the kernel, the caller context, the unit of work, access checks."""
