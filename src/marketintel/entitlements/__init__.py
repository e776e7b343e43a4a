"""Who may see what: tenant × market × product × channel grants, checked in one place."""
