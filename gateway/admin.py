from django.contrib import admin

from gateway.models import LanguageModel


@admin.register(LanguageModel)
class LanguageModelAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "provider",
        "input_price",
        "cached_input_price",
        "output_price",
        "priced",
        "is_active",
    ]
    list_filter = ["provider", "is_active"]
    search_fields = ["name"]

    @admin.display(boolean=True, description="Priced")
    def priced(self, obj: LanguageModel) -> bool:
        return obj.is_priced
