"""Running models: the chat, vision, image and benchmark services the tabs and endpoints call."""
