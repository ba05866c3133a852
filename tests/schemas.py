"""JSON Schemas the structured-output tests hold replies to: short strings, so a small model's reply ends."""

PLACE = {"type": "object", "properties": {"city": {"type": "string", "maxLength": 40},
                                          "country": {"type": "string", "maxLength": 40}},
         "required": ["city", "country"], "additionalProperties": False}
WEATHER = {"type": "object", "properties": {"city": {"type": "string", "maxLength": 40},
                                            "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}},
           "required": ["city", "unit"], "additionalProperties": False}
