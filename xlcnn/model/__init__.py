"""What a network is: specs, the defined-name contract, templates, validation, the zoo, modifications."""
