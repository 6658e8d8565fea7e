// Conformance app that cannot load: kelpie must stop with exit code 4 and say why.
throw new Error('conformance: this app fails at import');
