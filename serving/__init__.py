"""BentoML services over registered champions: one file per family (`bentoml serve serving.<family>:<Service>`)."""
