from django.apps import AppConfig


class APIKeysConfig(AppConfig):
    name = "ragsite.apikeys"
    label = "apikeys"
    verbose_name = "API keys"
