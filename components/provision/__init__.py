"""Host provisioning (DESIGN §6): the step catalogue (pure), one component per host, one for the site."""
